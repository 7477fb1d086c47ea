"""Every Redis key family of chat (registry, routing, delivery channels, claims, limits, tickets)."""
