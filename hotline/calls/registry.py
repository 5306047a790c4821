"""The IVR flows a running server uses: checked against the live facts, swapped whole on reload.

The flows are validated against what the database and the configuration hold at that moment
(categories with their menu digits, posts, named targets, the prompt files), so a flow that
names a category nobody created, or a prompt nobody rendered, is refused before a caller
meets it. :class:`FlowRegistry` keeps the current :class:`FlowSet`; a call takes the flow it
starts with and keeps it, so :meth:`FlowRegistry.reload` (SIGHUP) changes only new calls —
and a reload that fails validation keeps the old flows and says why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hotline.calls.flowcheck import FlowEnvironment, FlowError, FlowProblem, check_flows, load_flows
from hotline.calls.flows import FlowSet
from hotline.calls.speech import PromptLibrary
from hotline.config import Config
from hotline.store import Store

__all__ = ["FlowRegistry", "check_flow_folder", "flow_environment"]

log = logging.getLogger(__name__)


async def flow_environment(config: Config, store: Store | None, library: PromptLibrary) -> FlowEnvironment:
    """What flows are checked against; without a database, categories and posts go unchecked."""
    categories = posts = None
    if store is not None:
        categories = {c.id: c.dtmf for c in await store.people.categories()}
        posts = {p.id for p in await store.people.posts()}
        if not categories and not posts:
            categories = posts = None  # an empty database: nothing to check against yet
    return FlowEnvironment(categories=categories, posts=posts, targets=tuple(config.routing.targets),
                           prompt_exists=library.exists)


async def check_flow_folder(config: Config, folder: Path | None = None, *,
                            store: Store | None = None) -> list[FlowProblem]:
    """Every problem of the flows in ``folder`` (default: ``ivr.flows_dir``)."""
    library = PromptLibrary(config.media.prompts_dir)
    env = await flow_environment(config, store, library)
    return check_flows(folder or config.ivr.flows_dir, env)


class FlowRegistry:
    """The current flows of a running server (see the module doc)."""

    def __init__(self, config: Config, store: Store, library: PromptLibrary) -> None:
        self.config = config
        self.store = store
        self.library = library
        self._flows: FlowSet | None = None
        self.reloads = 0
        """How many reloads succeeded."""
        self.refused: list[FlowProblem] = []
        """The problems of the last reload if it was refused (the old flows stayed), else empty."""

    @property
    def flows(self) -> FlowSet:
        assert self._flows is not None, "flows not loaded"
        return self._flows

    def __call__(self) -> FlowSet:
        return self.flows

    async def load(self) -> FlowSet:
        """Load and validate; raises :class:`FlowError` with every problem."""
        env = await flow_environment(self.config, self.store, self.library)
        flows = load_flows(self.config.ivr.flows_dir, env)
        self._flows = flows
        return flows

    async def reload(self) -> list[FlowProblem]:
        """Reload the folder; on problems keep the flows in use and return the problems."""
        try:
            flows = await self.load()
        except FlowError as exc:
            for problem in exc.problems:
                log.error("flow reload refused: %s", problem)
            log.error("flow reload refused (%d problem(s)): calls keep the flows loaded before",
                      len(exc.problems))
            self.refused = list(exc.problems)
            return exc.problems
        self.reloads += 1
        self.refused = []
        log.info("flows reloaded from %s: %s", self.config.ivr.flows_dir, ", ".join(sorted(flows.flows)))
        return []

