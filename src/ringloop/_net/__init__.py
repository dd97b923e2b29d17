"""Networking: socket ops, stream and datagram transports, serving."""
