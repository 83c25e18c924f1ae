"""Notifications: telling people that something needs their attention.

A *notification* is one message about one event (usually an alarm), already worded
in the recipient's language. A *channel* carries it to one *target*: a browser's
push subscription, an e-mail address or a webhook URL. Every attempt ends in a
*delivery result* that records how it went and how long it took.

The channels in `channels/` know nothing about alarms, rules or the database;
routing and persistence build on top of them.
"""
