"""External event sinks: an HTTP webhook and an MQTT broker (QoS 1).

Each ``deliver`` returns only once the receiver acknowledged the event and raises
:class:`DeliveryError` otherwise; retrying and ordering are the outbox's job.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from typing import Any

from watchkeeper.core.errors import DeliveryError, InvalidInputError
from watchkeeper.events.model import Event, event_id_of

log = logging.getLogger(__name__)

__all__ = ["MqttSink", "WebhookSink"]


class WebhookSink:
    """POSTs each event as JSON; any 2xx answer is an acknowledgement.

    The ``Idempotency-Key`` header carries the event id, so a receiver can drop a duplicate.
    """

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        headers: dict[str, str] | None = None,
        name: str = "webhook",
    ) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise InvalidInputError("a webhook URL must start with http:// or https://")
        self.url = url
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def deliver(self, event: Event, payload_json: str) -> None:
        request = urllib.request.Request(
            self.url,
            data=payload_json.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": event_id_of(event),
                "User-Agent": "watchkeeper",
                **self.headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"webhook unreachable: {exc}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered HTTP {status}")

    def close(self) -> None:
        return None


class MqttSink:
    """Publishes each event to ``<topic_prefix>/<camera>/<kind>`` at QoS 1 (paho-mqtt).

    The connection is opened on first use and reopened after any failure; a publish counts as
    delivered only when the broker's PUBACK arrives within ``timeout_s``.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic_prefix: str = "watchkeeper",
        timeout_s: float = 5.0,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        name: str = "mqtt",
    ) -> None:
        if not host:
            raise InvalidInputError("an MQTT sink needs a broker host")
        if any(c in topic_prefix for c in "#+"):
            raise InvalidInputError("the MQTT topic prefix may not contain wildcards")
        self.host = host
        self.port = int(port)
        self.topic_prefix = topic_prefix.rstrip("/")
        self.timeout_s = timeout_s
        self.client_id = client_id
        self.username = username
        self.password = password
        self._name = name
        self._client: Any = None
        self._connected = threading.Event()

    @property
    def name(self) -> str:
        return self._name

    def topic_for(self, event: Event) -> str:
        camera = str(getattr(event, "camera_id", "site")).replace("/", "_")
        return f"{self.topic_prefix}/{camera}/{event.kind}"

    def _connect(self) -> Any:
        if self._client is not None and self._connected.is_set():
            return self._client
        self._drop()
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if not getattr(reason, "is_failure", False):
                self._connected.set()

        def on_disconnect(*_args: Any) -> None:
            self._connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        self._connected.clear()
        try:
            client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"MQTT broker {self.host}:{self.port} unreachable: {exc}") from None
        client.loop_start()
        self._client = client
        if not self._connected.wait(self.timeout_s):
            self._drop()
            raise DeliveryError(f"MQTT broker {self.host}:{self.port} did not accept us in time")
        return client

    def deliver(self, event: Event, payload_json: str) -> None:
        client = self._connect()
        try:
            info = client.publish(self.topic_for(event), payload_json, qos=1)
            info.wait_for_publish(timeout=self.timeout_s)
            ok = info.is_published()
        except (RuntimeError, ValueError, OSError) as exc:
            self._drop()
            raise DeliveryError(f"MQTT publish failed: {exc}") from None
        if not ok:
            self._drop()
            raise DeliveryError("MQTT broker did not acknowledge the event in time")

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._connected.clear()
        if client is not None:
            try:
                client.disconnect()
                client.loop_stop()
            except Exception:  # a dead connection may fail to close in many ways; none matter
                log.debug("closing the MQTT connection failed", exc_info=True)

    def close(self) -> None:
        self._drop()
