"""A module no labelloop code may import on behalf of an event or a Label Studio field.

The hostile tests name it in project titles and parameters (`tests.hostile.tripwire:SPEC`)
and then check `sys.modules`: if it is there, something imported a name it was handed.
"""

SPEC = None
