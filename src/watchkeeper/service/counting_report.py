"""What a counting run leaves behind for people: CSV, charts, a heat map and animal snapshots.

:class:`CountingReport` collects a pipeline's results as they come and writes, into one folder:

- ``counts_per_minute.csv``: every event kind per line/zone, class group and direction;
- ``traffic_per_hour.png``: line crossings per hour by class group;
- ``footfall.png``: people crossing in and out per minute;
- ``occupancy.png``: tracks inside each zone over time (sampled once a second);
- ``heatmap.png``: where objects were, over the last frame seen;
- ``wildlife/<class>_<track>_<time>.jpg``: the most confident picture of each animal track.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from watchkeeper.core import ClassGroup
from watchkeeper.service.counting import AnimalSnapshot, CountingPipeline, FrameCounts
from watchkeeper.zones.analytics import AnyCountingEvent, Bucket, count_series, write_counts_csv
from watchkeeper.zones.charts import bar_chart_png, line_chart_png
from watchkeeper.zones.events import Direction, DwellExceeded, LineCrossed, ZoneEntered

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Totals for one class group over a run."""

    class_group: ClassGroup
    crossed_in: int
    crossed_out: int
    zone_entries: int
    dwell_alerts: int


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """The files a report wrote."""

    counts_csv: Path
    charts: tuple[Path, ...]
    heatmap: Path | None
    snapshots: tuple[Path, ...]


@dataclass(slots=True)
class CountingReport:
    """Collects :class:`FrameCounts` of one run; see the module docstring for the outputs."""

    events: list[AnyCountingEvent] = field(default_factory=list)
    snapshots: list[AnimalSnapshot] = field(default_factory=list)
    occupancy_at: list[datetime] = field(default_factory=list)
    occupancy: dict[str, list[int]] = field(default_factory=dict)
    sample_every_s: float = 1.0

    def add(self, result: FrameCounts, pipeline: CountingPipeline) -> None:
        """Take one frame's results (and sample zone occupancy once per ``sample_every_s``)."""
        self.events.extend(result.events)
        self.snapshots.extend(result.snapshots)
        last = self.occupancy_at[-1] if self.occupancy_at else None
        if result.frame_index >= 0 and (
            last is None or (result.at - last).total_seconds() >= self.sample_every_s
        ):
            zones = pipeline.occupancy()
            if zones:
                self.occupancy_at.append(result.at)
                for zone in zones:
                    self.occupancy.setdefault(zone.zone_id, []).append(zone.total)

    def summary(self) -> tuple[GroupSummary, ...]:
        """Totals per class group that appeared in any event (sorted by group)."""
        table: dict[ClassGroup, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for event in self.events:
            row = table[event.class_group]
            if isinstance(event, LineCrossed):
                row[0 if event.direction is Direction.IN else 1] += 1
            elif isinstance(event, ZoneEntered):
                row[2] += 1
            elif isinstance(event, DwellExceeded):
                row[3] += 1
        return tuple(
            GroupSummary(group, *table[group]) for group in sorted(table, key=lambda g: g.value)
        )

    def write(self, out_dir: Path, pipeline: CountingPipeline) -> ReportFiles:
        """Write every output into ``out_dir`` (created if needed)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path = out_dir / "counts_per_minute.csv"
        write_counts_csv(count_series(self.events, Bucket.MINUTE), csv_path)
        charts = [
            self._traffic_per_hour(out_dir / "traffic_per_hour.png"),
            self._footfall(out_dir / "footfall.png"),
            self._occupancy(out_dir / "occupancy.png"),
        ]
        heatmap_path: Path | None = None
        if pipeline.heatmap is not None:
            heatmap_path = out_dir / "heatmap.png"
            pipeline.heatmap.save_png(heatmap_path, pipeline.last_image)
        return ReportFiles(
            counts_csv=csv_path,
            charts=tuple(p for p in charts if p is not None),
            heatmap=heatmap_path,
            snapshots=self._write_snapshots(out_dir / "wildlife"),
        )

    def _crossings(self) -> list[LineCrossed]:
        return [e for e in self.events if isinstance(e, LineCrossed)]

    def _traffic_per_hour(self, path: Path) -> Path | None:
        series = count_series(self._crossings(), Bucket.HOUR)
        if not series.rows:
            return None
        hours = sorted({r.bucket_start_at for r in series.rows})
        groups = sorted({r.class_group for r in series.rows}, key=lambda g: g.value)
        values = {
            g.value: [
                float(
                    sum(
                        r.count
                        for r in series.rows
                        if r.bucket_start_at == h and r.class_group is g
                    )
                )
                for h in hours
            ]
            for g in groups
        }
        labels = [h.strftime("%d %H:00") for h in hours]
        path.write_bytes(bar_chart_png("Line crossings per hour (UTC)", labels, values))
        return path

    def _footfall(self, path: Path) -> Path | None:
        people = [e for e in self._crossings() if e.class_group is ClassGroup.PERSON]
        series = count_series(people, Bucket.MINUTE)
        if not series.rows:
            return None
        minutes = sorted({r.bucket_start_at for r in series.rows})
        values = {
            d.value: [
                float(
                    sum(r.count for r in series.rows if r.bucket_start_at == m and r.direction is d)
                )
                for m in minutes
            ]
            for d in (Direction.IN, Direction.OUT)
        }
        labels = [m.strftime("%H:%M") for m in minutes]
        path.write_bytes(bar_chart_png("Footfall per minute (people, UTC)", labels, values))
        return path

    def _occupancy(self, path: Path) -> Path | None:
        if not self.occupancy_at:
            return None
        labels = [t.strftime("%H:%M:%S") for t in self.occupancy_at]
        values = {zone: [float(v) for v in counts] for zone, counts in self.occupancy.items()}
        path.write_bytes(
            line_chart_png("Zone occupancy (tracks inside)", labels, values, y_label="inside")
        )
        return path

    def _write_snapshots(self, folder: Path) -> tuple[Path, ...]:
        if not self.snapshots:
            return ()
        from PIL import Image

        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for snap in self.snapshots:
            stamp = snap.at.strftime("%Y%m%dT%H%M%S")
            name = snap.class_name.replace(" ", "_")
            path = folder / f"{name}_{snap.track_id}_{stamp}.jpg"
            Image.fromarray(snap.crop).save(path, format="JPEG", quality=90)
            paths.append(path)
        return tuple(paths)
