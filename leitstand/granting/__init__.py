"""Granting: giving a user a role on a tenant, site or device, and taking it back.

The roles and the grants' table are access's (leitstand.access); deciding whether a grant
may be made reads the grantee's account and the devices shared with their organisation, so
granting stands above users and devices.
"""
