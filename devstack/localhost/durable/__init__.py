"""Durable Functions on the local host: orchestrations, activities and the durable client's HTTP API.

The orchestrator runs the SDK's own replay: each episode calls it with its history JSON, as the
extension does (`{"history": [...], "input": ..., "instanceId": ..., ...}`), and acts on the state
it returns (actions, isDone, output, error, customStatus). A host killed at any point resumes where
the last written episode left off: work scheduled but not completed runs again (at least once, as in
Azure), timers are re-armed at their FireAt. An episode whose write fails (Azurite dropped the
connection) is run again from the state before it, as Azure redelivers a message whose episode
did not commit.

    history.py   the history, pure: events, what is pending, retries, the returned state
    store.py     instances and their history in the Azurite table `{hub}Instances`
    messages.py  what an instance's worker takes, one episode each (Deliver, Terminate, Forget)
    runtime.py   the workers, episodes, activities, timers, sub-orchestrations
    api.py       the durable client's HTTP API and binding (start, status, terminate, raise, purge)
"""

from devstack.localhost.durable.api import ManagementApi, hub_name
from devstack.localhost.durable.runtime import DurableRuntime

__all__ = ["DurableRuntime", "ManagementApi", "hub_name"]
