"""The pure core: schedules, cron, the decision, outcomes, verification rules.

Nothing here imports boto3, an HTTP client or reads the clock: every function takes `now`.
Read it first; every other room gathers inputs for it or carries out what it decides.
"""
