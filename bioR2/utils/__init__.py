"""Small shared helpers (atomic file writes, device moves)."""
