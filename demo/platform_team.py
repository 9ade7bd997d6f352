"""The demo's stand-in for a platform's compliance team: answers takedown requests over the real endpoint.

It reads what waits at the platform service (``GET /takedown-requests?status=RECEIVED``) and
answers through ``POST /takedown-requests/{n}/answer``, as a compliance tool would. What it does
is decided by the request id, so a rerun does the same: a request still in time is answered
after a short read (mostly removed; some partly removed, refused or needing more information);
of those already past their deadline half are answered late and half left overdue, so the
dashboard has both to show.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

OFFICER = "Tổ tuân thủ (demo)"
READ_S = 15.0  # how long a request waits before the team answers one still in time


def decide(request: dict[str, Any]) -> dict[str, Any] | None:
    """The answer the team gives to one waiting request, or None (left as it is, for now or for good)."""
    roll = int(hashlib.sha256(str(request["request_id"]).encode()).hexdigest()[:8], 16)
    received = datetime.fromisoformat(request["received_at"])
    if request["standing"] == "OVERDUE":
        return {"outcome": "removed", "officer": OFFICER} if roll % 2 == 0 else None
    if (datetime.now(UTC) - received).total_seconds() < READ_S:
        return None
    targets = [t["target_id"] for t in request["targets"]]
    choice = roll % 10
    if choice == 6 and len(targets) > 1:
        states = {t: ("REMOVED" if i == 0 else "NOT_FOUND") for i, t in enumerate(targets)}
        return {"outcome": "partly-removed", "officer": OFFICER, "targets": states}
    if choice == 7:
        reason = "Quyết định xử phạt chưa nêu tin đăng cụ thể; gian hàng không vi phạm chính sách sàn"
        return {"outcome": "refused", "officer": OFFICER, "reason": reason}
    if choice in (8, 9):
        return {
            "outcome": "needs-info",
            "officer": OFFICER,
            "reason": "Đề nghị gửi kèm bản quyết định xử phạt",
        }
    return {"outcome": "removed", "officer": OFFICER}


class ComplianceTeam:
    """Polls the platform service and answers what ``decide`` says, until stopped."""

    def __init__(self, url: str, token: str, interval_s: float = 3.0) -> None:
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        self.interval_s = interval_s
        self.answered = 0
        self.left: set[str] = set()

    def step(self) -> int:
        answered = 0
        for request in self.client.get("/takedown-requests", params={"status": "RECEIVED"}).json():
            if request["request_id"] in self.left:
                continue
            answer = decide(request)
            if answer is None:
                if request["standing"] == "OVERDUE":
                    self.left.add(request["request_id"])
                continue
            response = self.client.post(
                f"/takedown-requests/{request['register_number']}/answer", json=answer
            )
            if response.status_code == 200:
                answered += 1
        self.answered += answered
        return answered

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except (httpx.HTTPError, ValueError):
                time.sleep(1.0)  # the service is starting or stopping
            stop.wait(self.interval_s)
        self.client.close()


__all__ = ["ComplianceTeam", "decide"]
