"""The fallback engine's parts; ``detour.router.Router`` wires them together.

    needs    what a request needs (capabilities, context)      plan     candidates, order, skip reasons
    policy   the table: what to do after a failure, by kind     keys     round-robin + session stickiness
    walk     health checks, probe leases, retries, switches     attempt  one call / one stream to first content
    gate     tool-call buffering, index mapping, hold-back      stream   streaming fallback and rescue
    targets  config + catalog -> endpoints, resolved once       result   Result, Attempt, AllFailed, cost
"""
