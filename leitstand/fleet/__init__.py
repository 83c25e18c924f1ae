"""The fleet: devices together with what other domains keep about them.

A device on its own (leitstand.devices) knows its tenant, site, type and credentials. The
fleet's routes and use cases compose it with the floors above devices: claiming a device
starts its licence, decommissioning stops the licence renewing, the device list filters by
licence status, and deleting a device deletes its telemetry.
"""
