"""Counting lines and zones: crossings, occupancy, dwell, time series and heat maps."""
