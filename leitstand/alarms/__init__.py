"""Alarms: rules per device type, site or device, evaluated on what devices report, with a lifecycle."""
