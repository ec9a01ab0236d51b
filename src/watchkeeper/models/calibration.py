"""Stored decision thresholds for an embedding contract.

Thresholds are chosen by a target false-match rate from a calibration made on LFW View 1 (the
development pairs' images; never View 2), and shipped with the package so that no data is
needed at run time. ``watchkeeper calibrate`` remakes the file.
"""

from __future__ import annotations

import json
import stat as stat_kind
import threading
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from watchkeeper.core.errors import ConfigError

CALIBRATION_DIR = "calibrations"


@dataclass(frozen=True, slots=True)
class Calibration:
    contract_id: str
    made_from: str
    genuine_pairs: int
    impostor_pairs: int
    thresholds: dict[str, float]
    """Target false-match rate (as text, e.g. "0.001") -> similarity threshold."""

    def threshold(self, target_fmr: float) -> float:
        """The threshold for the largest calibrated FMR not above ``target_fmr``."""
        usable = sorted(
            (float(k), v) for k, v in self.thresholds.items() if float(k) <= target_fmr * 1.0001
        )
        if not usable:
            known = ", ".join(sorted(self.thresholds, key=float))
            raise ConfigError(
                f"no calibrated threshold at false-match rate {target_fmr:g}; known: {known}"
            )
        return usable[-1][1]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _file_name(contract_id: str) -> str:
    return contract_id.replace("@", "_").replace("/", "_") + ".json"


def packaged_path(contract_id: str) -> Path:
    return Path(
        str(resources.files("watchkeeper.models") / CALIBRATION_DIR / _file_name(contract_id))
    )


# Parsed files by (path, modification time, size): every search needs a threshold, and
# re-reading the JSON each time cost more than the search itself. A remade file (``watchkeeper
# calibrate``) has a new modification time, so it is read again.
_parsed: dict[tuple[str, int, int], Calibration] = {}
_parsed_lock = threading.Lock()


def _read(path: Path) -> Calibration | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    if not stat_kind.S_ISREG(stat.st_mode):
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _parsed_lock:
        known = _parsed.get(key)
    if known is not None:
        return known
    calibration = Calibration(**json.loads(path.read_text()))
    with _parsed_lock:
        if len(_parsed) > 64:
            _parsed.clear()
        _parsed[key] = calibration
    return calibration


def load_calibration(contract_id: str, extra_dir: Path | None = None) -> Calibration:
    """The site's own calibration (in ``extra_dir``) if present, else the packaged one."""
    candidates = []
    if extra_dir is not None:
        candidates.append(extra_dir / _file_name(contract_id))
    candidates.append(packaged_path(contract_id))
    for path in candidates:
        found = _read(path)
        if found is not None:
            return found
    raise ConfigError(
        f"no calibration for model contract {contract_id}; run `watchkeeper calibrate` "
        "or pass an explicit threshold"
    )


def save_calibration(calibration: Calibration, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _file_name(calibration.contract_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(calibration.to_json())
    tmp.replace(path)
    return path
