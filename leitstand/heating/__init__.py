"""Heating control: plans, their assignments, modes, and the engine that turns them into targets.

Terms, and how the contract's "week plan" is built (H49 and H51 reconciled):
- *Plan*: a named day profile of exactly 24 hourly targets (slot 00 … 23, local time of the
  building), with its own min/max limits and overrule minutes. H49's "a plan has exactly 24
  hourly targets; a missing or duplicate hour is 422" holds for it as written.
- *Assignment*: binds one plan to one level (thermostat, room, group or building) for a set of
  weekdays (0 = Monday … 6 = Sunday), as H51's per-weekday drop-down does. One level target has
  at most one plan per weekday: a second assignment claiming a day already taken is refused.
- *Week plan*: not a table but a view: for one target, the seven weekdays with the plan each
  follows. The weekly grid (7 × 24) is that view with each day's plan's targets filled in.
  Copy-day makes a weekday follow the same plan as another (an assignment change); copy-week
  gives another target the same weekday → plan bindings (new assignments). Editing an hour of
  a day in the grid edits that day's plan, which every day and target using it shares; to
  change one day only, copy the plan first (POST /heating/plans/{plan_id}/copy).
- *Mode*: PLAN (follow the plan), MANUAL (the user's own target) or FIX (a fixed temperature),
  set per thermostat or per room; the thermostat's own mode is more specific.
- *Overrule*: a target changed at the device itself is honoured for the plan's overrule minutes.
- *Default plan* (H15): a building gets one, with the defaults of the settings (heating_*),
  when heating first reads that building (its week, a thermostat's effective target, or the
  scheduler's run). It is lazy rather than a hook on site creation because sites lie below
  heating, and a tenant import writes rows with Core inserts that a hook would not see; a
  building imported without one gets it the same way.

The engine (engine.py) is pure; service.py loads its inputs and offers `targets_to_send`, which
a scheduler job calls with a session and an instant. The transport is not part of this package.
"""
