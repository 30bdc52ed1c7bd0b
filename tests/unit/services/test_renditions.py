"""The MP3 made on first request: listed from the start, made once from the original with the
deposit's settings, kept as the ordinary blob; replication and forwarding copy only what exists;
the best stored rendition stands in for an original that is gone."""

from __future__ import annotations

import logging
import struct
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from shared.adapters.audio_codec import transcode
from shared.domain.audio import AudioLimits
from shared.domain.commands import ForwardMessage, PutMailbox
from shared.domain.errors import AudioNotFound
from shared.domain.model import MailboxSettings
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from shared.services.renditions import AT_DEPOSIT, SPARE_S, Renditions, opus_input_rate
from shared.services.replication import Regions
from shared.telemetry import Telemetry
from tests.unit.fakes import FakeAudio, FakeSweepStore, fake_app

MB = "+1555"
SENDER = Sender("+15550001111", "Bob", urgent=False)


def ready(region, data: bytes = b"hello audio", mailbox: str = MB) -> str:
    message_id = region.app.messages.deposit(PLATFORM, mailbox, data, "audio/wav", SENDER, None)[0]["id"]
    assert region.app.pipeline.process(f"incoming/{mailbox}/{message_id}", data) == "ready"
    return message_id


def mp3(region, message_id: str, range_header: str | None = None, mailbox: str = MB):
    return region.app.messages.audio(PLATFORM, mailbox, message_id, "mp3", range_header, False)


@pytest.fixture
def region():
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MB, PutMailbox(displayName="A", settings=MailboxSettings(maxMessageSeconds=60)))
    return region


def test_the_deposit_makes_no_mp3_but_lists_it(region):
    message_id = ready(region)
    assert region.transcoder.last["renditions"] == AT_DEPOSIT == ("opus", "wav")
    message = region.app.messages.get(PLATFORM, MB, message_id)
    assert message["formats"] == ["opus", "wav", "mp3"]
    assert f"audio/{MB}/{message_id}/mp3" not in region.audio.blobs
    assert f"audio/{MB}/{message_id}/opus" in region.audio.blobs


def test_the_first_request_makes_it_from_the_original_and_keeps_it(region):
    message_id = ready(region)
    calls = region.transcoder.calls
    answer = mp3(region, message_id)
    assert answer.content_type == "audio/mpeg" and answer.data == b"mp3hello audio"
    assert region.audio.blobs[f"audio/{MB}/{message_id}/mp3"] == b"mp3hello audio"
    last = region.transcoder.last
    assert region.transcoder.calls == calls + 1 and last["renditions"] == ("mp3",)
    assert last["source"] == b"hello audio" and last["content_type"] == "audio/wav"
    # The deposit's settings: normalised as the pipeline does, the whole original kept.
    assert last["limits"] == AudioLimits(0, 11 / 1000 + SPARE_S, True)
    # Later requests, whole or in part, are served from the blob.
    assert mp3(region, message_id).data == b"mp3hello audio"
    part = mp3(region, message_id, "bytes=3-7")
    assert part.data == b"hello" and part.range == (3, 7) and part.total_size == 14
    assert region.transcoder.calls == calls + 1


def test_a_truncated_message_keeps_exactly_its_cut(region):
    message_id = ready(region)
    key = (MB, message_id)
    region.store.messages[key] = replace(region.store.messages[key], truncated=True, duration_ms=60_000)
    mp3(region, message_id)
    limits = region.transcoder.last["limits"]
    assert limits.max_seconds == pytest.approx(60.0) and int(limits.max_seconds * 8000) == 480_000


def test_a_range_as_the_first_request_makes_it_too(region):
    message_id = ready(region)
    assert mp3(region, message_id, "bytes=0-2").data == b"mp3"


def test_a_redirect_points_at_the_made_blob(region):
    message_id = ready(region)
    answer = region.app.messages.audio(PLATFORM, MB, message_id, "mp3", None, True)
    assert answer.redirect_url and f"audio/{MB}/{message_id}/mp3" in region.audio.blobs


def test_concurrent_first_requests_make_it_once(region):
    message_id = ready(region)
    calls = region.transcoder.calls
    slow = region.transcoder.transcode

    def transcode_slowly(*args, **kwargs):
        time.sleep(0.2)
        return slow(*args, **kwargs)

    region.transcoder.transcode = transcode_slowly
    answers, errors = [], []

    def fetch():
        try:
            answers.append(mp3(region, message_id).data)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and answers == [b"mp3hello audio"] * 4
    assert region.transcoder.calls == calls + 1


def test_another_process_having_made_it_is_fine(region):
    """Two hosts (no shared lock) both make it: the second write stores the same bytes again."""
    message_id = ready(region)
    message = region.store.messages[(MB, message_id)]
    other = Renditions(Regions("r1", region.audio, {}), region.transcoder, True, region.store, Telemetry())
    other.locate(message, "mp3")
    region.audio.blobs.pop(f"audio/{MB}/{message_id}/mp3")
    other.locate(message, "mp3")
    assert mp3(region, message_id).data == b"mp3hello audio"


def test_the_e_mail_path_gets_an_mp3_too(region):
    message_id = ready(region)
    message = region.store.messages[(MB, message_id)]
    renditions = Renditions(Regions("r1", region.audio, {}), region.transcoder, True, region.store, Telemetry())
    store, size = renditions.locate(message, "mp3")
    assert store.read(f"audio/{MB}/{message_id}/mp3") == b"mp3hello audio" and size == 14


def test_without_the_original_the_opus_stands_in_for_wideband(region, caplog):
    message_id = ready(region)
    region.audio.blobs.pop(f"incoming/{MB}/{message_id}")
    with caplog.at_level(logging.WARNING, logger="shared.services.renditions"):
        assert mp3(region, message_id).data == b"mp3opushello audio"
    last = region.transcoder.last
    assert last["content_type"] == "audio/ogg" and last["limits"].normalize is False
    assert "original" in caplog.text and "opus" in caplog.text


def test_without_the_original_the_wav_stands_in_for_narrowband(region):
    message_id = ready(region)
    region.audio.blobs.pop(f"incoming/{MB}/{message_id}")
    head = b"OggS" + bytes(24) + b"OpusHead" + bytes([1, 1]) + struct.pack("<HI", 312, 8000) + bytes(3)
    region.audio.blobs[f"audio/{MB}/{message_id}/opus"] = head
    assert mp3(region, message_id).data == b"mp3wavhello audio"
    assert region.transcoder.last["content_type"] == "audio/wav"


def test_nothing_to_make_it_from_is_not_found(region):
    message_id = ready(region)
    for name in (f"incoming/{MB}/{message_id}", f"audio/{MB}/{message_id}/opus", f"audio/{MB}/{message_id}/wav"):
        region.audio.blobs.pop(name)
    with pytest.raises(AudioNotFound):
        mp3(region, message_id)


def test_a_purge_while_it_is_made_leaves_no_blob(region):
    message_id = ready(region)
    made = region.transcoder.transcode

    def purge_meanwhile(*args, **kwargs):
        result = made(*args, **kwargs)
        region.app.messages.delete(PLATFORM, MB, message_id, purge=True)
        return result

    region.transcoder.transcode = purge_meanwhile
    with pytest.raises(AudioNotFound):
        mp3(region, message_id)
    assert not [path for path in region.audio.blobs if message_id in path]


def test_only_lazy_renditions_are_made(region):
    message_id = ready(region)
    region.audio.blobs.pop(f"audio/{MB}/{message_id}/opus")
    calls = region.transcoder.calls
    with pytest.raises(AudioNotFound):
        region.app.messages.audio(PLATFORM, MB, message_id, "opus", None, False)
    assert region.transcoder.calls == calls


def test_an_mp3_made_at_deposit_before_this_change_is_served_as_it_is(region):
    message_id = ready(region)
    region.audio.blobs[f"audio/{MB}/{message_id}/mp3"] = b"an old mp3"
    calls = region.transcoder.calls
    assert mp3(region, message_id).data == b"an old mp3" and region.transcoder.calls == calls


def test_purge_and_retention_delete_an_mp3_never_made(region):
    message_id = ready(region)
    region.app.messages.delete(PLATFORM, MB, message_id, purge=True)
    assert not [path for path in region.audio.blobs if message_id in path]


def test_replication_copies_what_exists_and_the_other_region_makes_its_own():
    store = FakeSweepStore()
    here, there = FakeAudio(store), FakeAudio(store)
    a = fake_app("a", store=store, audio=here, peers={"b": there}, REPLICA_COUNT="2")
    b = fake_app("b", store=store, audio=there, peers={"a": here}, REPLICA_COUNT="2")
    a.app.mailboxes.put(PLATFORM, MB, PutMailbox(displayName="A"))
    message_id = ready(a)
    assert a.app.replication.replicate(MB, message_id) == 1
    assert f"incoming/{MB}/{message_id}" in there.blobs and f"audio/{MB}/{message_id}/opus" in there.blobs
    assert f"audio/{MB}/{message_id}/mp3" not in there.blobs
    here.blobs.pop(f"incoming/{MB}/{message_id}")  # region b makes it from its own copy of the original
    assert mp3(b, message_id).data == b"mp3hello audio"
    assert f"audio/{MB}/{message_id}/mp3" in there.blobs and f"audio/{MB}/{message_id}/mp3" not in here.blobs
    # Made since, it is copied like any rendition.
    store.messages[(MB, message_id)] = replace(store.messages[(MB, message_id)], replica_regions=("b",))
    assert b.app.replication.replicate(MB, message_id) == 1
    assert here.blobs[f"audio/{MB}/{message_id}/mp3"] == b"mp3hello audio"


def test_a_forward_before_the_mp3_is_made_gets_its_own_from_the_copied_original(region):
    region.app.mailboxes.put(PLATFORM, "+1666", PutMailbox(displayName="B"))
    message_id = ready(region)
    copy = region.app.messages.forward(PLATFORM, MB, message_id, ForwardMessage(to="+1666"))
    assert copy["formats"] == ["opus", "wav", "mp3"]
    assert f"audio/+1666/{copy['id']}/mp3" not in region.audio.blobs
    assert mp3(region, copy["id"], mailbox="+1666").data == b"mp3hello audio"
    assert region.transcoder.last["source"] == b"hello audio"


def test_opus_input_rate_reads_the_opus_head():
    head = b"OggS" + bytes(24) + b"OpusHead" + bytes([1, 1]) + struct.pack("<HI", 312, 16000)
    assert opus_input_rate(head) == 16000 and opus_input_rate(b"OggS nothing") is None


class _Inline:
    """The real codec, in this process."""

    def __init__(self) -> None:
        self.calls = 0

    def transcode(self, source, out_dir, limits, content_type=None, renditions=None):
        self.calls += 1
        return transcode(source, out_dir, limits, content_type, renditions)


def _speech(path: Path, rate: int, seconds: float) -> Path:
    import av
    import numpy as np

    t = np.arange(int(rate * seconds)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        for resampled in av.AudioResampler(format="s16", layout="mono", rate=rate).resample(frame):
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("rate", "seconds", "max_seconds"), [(8_000, 3.0, 60), (16_000, 3.0, 60), (16_000, 3.0, 2)])
def test_with_the_real_codec_the_lazy_mp3_is_the_deposits_byte_for_byte(tmp_path, rate, seconds, max_seconds):
    """Same quality as making it at deposit, by construction: the same bytes (narrowband, wideband,
    and a message cut at its mailbox's maxMessageSeconds)."""
    source = _speech(tmp_path / "source.wav", rate, seconds)
    eager = tmp_path / "eager"
    eager.mkdir()
    made = transcode(source, eager, AudioLimits(1, max_seconds, True))
    region = fake_app()
    region.app.mailboxes.put(PLATFORM, MB, PutMailbox(displayName="A", settings=MailboxSettings(
        minMessageSeconds=1, maxMessageSeconds=max_seconds)))
    data = source.read_bytes()
    message_id = region.app.messages.deposit(PLATFORM, MB, data, "audio/wav", SENDER, None)[0]["id"]
    key = (MB, message_id)
    region.store.messages[key] = replace(region.store.messages[key], status="ready", formats=("opus", "wav", "mp3"),
                                         duration_ms=made.duration_ms, truncated=made.truncated,
                                         blobs={**region.store.messages[key].blobs,
                                                "mp3": f"audio/{MB}/{message_id}/mp3"})
    renditions = Renditions(Regions("r1", region.audio, {}), _Inline(), True, region.store, Telemetry())
    store, _ = renditions.locate(region.store.messages[key], "mp3")
    assert made.truncated == (max_seconds < seconds)
    assert store.read(f"audio/{MB}/{message_id}/mp3") == made.files["mp3"].read_bytes()


def test_greetings_keep_every_rendition_at_upload(region):
    """Played to every caller, and rare: a greeting's MP3 is made with the rest, not on request."""
    region.app.greetings.put(PLATFORM, MB, "busy", b"hello greeting", "audio/wav")
    path = next(p for p in region.audio.blobs if p.startswith("incoming/greetings/"))
    assert region.app.pipeline.process(path, b"hello greeting") == "ready"
    assert region.transcoder.last["renditions"] is None
    answer = region.app.greetings.active(PLATFORM, MB, "busy", "mp3")
    assert answer.data == b"mp3hello greeting"
