"""Bybit: the v5 public ``allLiquidation`` websocket topics (:mod:`.stream`)."""
