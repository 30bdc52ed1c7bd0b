import json

import httpx

from devstack.webhook_receiver import WebhookReceiver


def test_the_receiver_fails_as_told_per_path_and_keeps_every_attempt():
    with WebhookReceiver() as receiver:
        receiver.failing["/first"], receiver.failing["/down"] = "first", "always"

        def post(path: str, event_id: str) -> int:
            body = json.dumps({"type": "message.ready"}).encode()
            return httpx.post(receiver.url(path), content=body, headers={"webhook-id": event_id}).status_code

        assert [post("/first", "e1"), post("/first", "e1"), post("/first", "e2")] == [500, 204, 500]
        assert [post("/down", "e3"), post("/down", "e3")] == [500, 500]
        assert post("/ok", "e4") == 204
        calls = receiver.received("/first", "message.ready")
        assert [c["status"] for c in calls] == [500, 204, 500]
        assert calls[0]["at"] <= calls[1]["at"] and calls[0]["headers"]["webhook-id"] == "e1"
        assert receiver.received("/first", "mwi.changed") == []
