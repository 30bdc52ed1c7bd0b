import sys

from voicemail_client.cli import main

sys.exit(main())
