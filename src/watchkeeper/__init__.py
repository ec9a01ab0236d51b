"""Watchkeeper (local stand-in so this worktree wins over the editable install; not committed)."""
