"""Support: service calendars, ticket classes and the SLA clocks that measure response times.

A *service calendar* says when the provider's support desk counts as open
(weekly hours, a German state's public holidays, extra closed days). An *SLA
clock* measures a ticket's response time against its class's target in the
business time of such a calendar. Both are pure computations; tickets, their
storage and the API build on top.
"""
