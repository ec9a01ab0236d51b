"""`watchkeeper bench ...` commands (registered on import by main())."""

from __future__ import annotations
