"""Supervision for asyncio: restarting task groups, mailboxes that lose nothing, supervision
trees and actors, with Erlang/OTP's semantics.

An ordinary asyncio layer: it runs on any asyncio event loop, ringloop's or the stock one.
Three degrees, from least to most intrusive (see docs/supervise.md):

- :class:`Group`: ``size`` copies of a worker, restarted by a :class:`Restart` policy;
- :class:`Mailbox`: at-least-once delivery that survives a crashing consumer, and
  :class:`Supervisor` trees of :class:`Child` specs;
- :class:`Actor`: :func:`spawn` one and talk to it through its :class:`ActorRef`.
"""
from .actor import Actor, ActorRef, spawn
from .child import Child, notify_ready
from .group import Group, GroupStats
from .mailbox import DeadLetter, Mailbox, Receipt
from .outcome import Outcome
from .policy import ActorCrashed, ActorStopped, Restart, SupervisorGaveUp
from .supervisor import ChildCounts, ChildInfo, Supervisor

__all__ = [
    "Actor", "ActorCrashed", "ActorRef", "ActorStopped", "Child", "ChildCounts", "ChildInfo", "DeadLetter",
    "Group", "GroupStats", "Mailbox", "Outcome", "Receipt", "Restart", "Supervisor", "SupervisorGaveUp",
    "notify_ready", "spawn",
]
