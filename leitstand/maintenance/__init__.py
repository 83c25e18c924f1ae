"""Maintenance: plans by interval or counter, the traffic light, the inspection book and its PDF."""
