"""A client for the voicemail API that keeps answering when a region does not.

    from voicemail_client import VoicemailClient
    with VoicemailClient(["https://eu.example/api", "https://us.example/api"], api_key=KEY) as vm:
        message = vm.deposit("+15551234567", Path("hello.wav"), sender="+15557654321")

It is configured with every regional endpoint, nearest first; it keeps which ones are known
healthy or unhealthy (from readiness probes and from failures), sends each request to the best
one, and on a connection error, timeout, 5xx or 429 retries at once in another region, or after a
jittered back-off that honours `Retry-After` when there is none, within a bounded number of
attempts and time. A deposit carries one `Idempotency-Key` for all its attempts, so a retry in any
region converges on the same message.
"""

from voicemail_client.client import ApiError, RetryPolicy, Unavailable, VoicemailClient
from voicemail_client.endpoints import Endpoints

__all__ = ["ApiError", "Endpoints", "RetryPolicy", "Unavailable", "VoicemailClient"]
