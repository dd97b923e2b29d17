"""File operations on the ring (the loop's ring_* methods for files)."""
