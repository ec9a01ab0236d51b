"""Confirmed alerts reach a webhook and a real Mosquitto broker, in order and exactly once, even
when the receiver was down when they were confirmed."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from watchkeeper.events.model import AlertConfirmed
from watchkeeper.events.outbox import Backoff, Dispatcher, EventLog
from watchkeeper.events.sinks import MqttSink, WebhookSink
from watchkeeper.store.sqlite import SqliteStore

from .conftest import MqttFactory, free_port


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "wk.db") as opened:
        yield opened


def _alert(n: int) -> AlertConfirmed:
    return AlertConfirmed(
        event_id=f"alert_{n}",
        camera_id="door",
        track_id=n,
        at=datetime(2026, 3, 1, 9, n, tzinfo=UTC),
        candidate_id=f"cand_{n}",
        watchlist="staff",
        identity_id="idn_1",
        display_name="Ada",
        similarity=0.95,
        confirmed_by="rui",
    )


def _queue(store: SqliteStore, sink: str, *numbers: int) -> None:
    with store.transaction() as conn:
        for n in numbers:
            EventLog(conn).append(_alert(n), deliver_to=(sink,))


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    keys: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        type(self).keys.append(self.headers["Idempotency-Key"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_webhook_down_then_up_gets_every_alert_once_in_order(store: SqliteStore) -> None:
    port = free_port()
    clock = Clock()
    dispatcher = Dispatcher(
        store.transaction,
        {"webhook": WebhookSink(f"http://127.0.0.1:{port}/alerts", timeout_s=2)},
        Backoff(initial_s=5, multiplier=2, max_s=60),
        clock=clock,
    )
    _queue(store, "webhook", 1, 2)
    assert dispatcher.run_once() == 0  # nobody listens yet
    _queue(store, "webhook", 3)
    assert dispatcher.run_once() == 0  # the retry is not due yet
    assert EventLog(store.conn).owed("webhook") == 3
    _Receiver.received, _Receiver.keys = [], []
    server = http.server.HTTPServer(("127.0.0.1", port), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clock.now += timedelta(seconds=6)
        assert dispatcher.run_once() == 3
        assert dispatcher.run_once() == 0
    finally:
        server.shutdown()
        server.server_close()
    assert [r["candidate_id"] for r in _Receiver.received] == ["cand_1", "cand_2", "cand_3"]
    assert _Receiver.keys == ["alert_1", "alert_2", "alert_3"]
    assert EventLog(store.conn).owed() == 0


@pytest.mark.mqtt
def test_mqtt_broker_down_then_up_gets_every_alert_once_in_order(
    store: SqliteStore, mosquitto: MqttFactory
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port = free_port()
    clock = Clock()
    sink = MqttSink("127.0.0.1", port, topic_prefix="wk-test", timeout_s=2)
    dispatcher = Dispatcher(
        store.transaction, {"mqtt": sink}, Backoff(initial_s=5, max_s=60), clock=clock
    )
    _queue(store, "mqtt", 1, 2)
    assert dispatcher.run_once() == 0  # the broker is down
    broker = mosquitto(port)
    got: list[tuple[str, dict[str, Any]]] = []
    subscribed = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wk-test-listener")
    listener.on_message = lambda _c, _u, msg: got.append((msg.topic, json.loads(msg.payload)))
    listener.on_subscribe = lambda *_a: subscribed.set()
    listener.connect("127.0.0.1", broker.port)
    listener.loop_start()
    try:
        listener.subscribe("wk-test/#", qos=1)
        assert subscribed.wait(10)
        _queue(store, "mqtt", 3)
        assert dispatcher.run_once() == 0  # still backing off: nothing overtakes the backlog
        clock.now += timedelta(seconds=6)
        assert dispatcher.run_once() == 3
        assert dispatcher.run_once() == 0
        deadline = threading.Event()
        for _ in range(100):
            if len(got) >= 3:
                break
            deadline.wait(0.05)
    finally:
        listener.loop_stop()
        listener.disconnect()
        dispatcher.stop()
    assert [body["candidate_id"] for _, body in got] == ["cand_1", "cand_2", "cand_3"]
    assert {topic for topic, _ in got} == {"wk-test/door/alert_confirmed"}
    assert EventLog(store.conn).owed("mqtt") == 0
