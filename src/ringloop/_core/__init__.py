"""The loop core (``base.LoopCore``) that the feature parts subclass, and op-futures."""
