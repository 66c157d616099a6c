"""Fault-injection scenarios (marker `faults`): crashes, outages and disk full against real servers."""
