"""The fallback engine; ``detour.router.Router`` is its public facade (nothing here imports it).

    names    a model name -> the Route it means (one table)    engine   resolve, plan and run requests
    needs    what a request needs (capabilities, context)      plan     candidates, order, skip reasons
    policy   the table: what to do after a failure, by kind     keys     round-robin + session stickiness
    walk     the attempt loop: health, leases, retries, switch  attempt  one call / one stream to first content
    run      one request: its walk, cost, speed and Result      stream   the same run through a gate, rescue
    gate     tool-call buffering, index mapping, hold-back      result   Result, Attempt, AllFailed, cost
    targets  config + catalog -> endpoints, resolved once
"""
