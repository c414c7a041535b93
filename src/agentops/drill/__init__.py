"""Fault drills: inject a fault for real, diagnose it, undo it (`agentops drill FAULT`)."""
