"""A record (one run of a pipeline) as services exchange it: statuses, stage states, the view.

The scheduler owns records (services/scheduler); the worker reports stage and run statuses,
the scm service reads them for notifications, the gateway and the UI show them. Every status
string of the system is one of these enums, so a typo is a type error, not a record that
never ends.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NotRequired

from typing_extensions import TypedDict


class RecordStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"
    ABORTED = "Aborted"


class StageStatus(StrEnum):
    """A stage's status: a record's, plus Skipped (an untrusted run's stage that needed a
    secret it did not get)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"
    ABORTED = "Aborted"
    SKIPPED = "Skipped"


TERMINAL: Final = frozenset({RecordStatus.SUCCESS, RecordStatus.FAILED, RecordStatus.ABORTED})
ACTIVE: Final = frozenset({RecordStatus.PENDING, RecordStatus.RUNNING})
# How a run ends as the worker reports it (never Pending or Running).
RUN_ENDS: Final = TERMINAL
STAGE_ENDS: Final = frozenset(
    {StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.ABORTED, StageStatus.SKIPPED}
)


class Commit(TypedDict, total=False):
    """The commit a checkout got (svn: the revision as ID)."""

    ID: str
    Author: str
    Date: str
    Message: str


class Commits(TypedDict, total=False):
    mainRepo: Commit
    depRepos: list[Commit]


class ImageTask(TypedDict, total=False):
    """One imageBuild buildInfo or imageRelease policy, as the stage ran it."""

    name: str
    image: str  # the full reference built or pushed
    status: str  # a StageStatus value
    startTime: str
    endTime: str
    error: str
    reusedFrom: str  # a rerun's stage taken over from that record, not run again


class Measure(TypedDict):
    metric: str
    value: str


class SonarResult(TypedDict, total=False):
    measures: list[Measure]  # in shared order (services/worker/scanning.py METRICS)
    overviewLink: str  # the SonarQube project's page


class StageDetails(TypedDict, total=False):
    """What a finished stage tells beyond its status (stored on the stage, shown to clients)."""

    commits: Commits  # codeCheckout
    outputs: list[str]  # unitTest, codeScan, package: the paths collected
    artifacts: list[str]  # the paths kept as artifacts (the logs service holds the files)
    tasks: list[ImageTask]  # imageBuild, imageRelease
    images: list[str]  # imageRelease: the images pushed
    sonarqube: SonarResult  # codeScan
    skipReason: str  # an untrusted run's Skipped stage


STAGE_DETAILS: Final = tuple(StageDetails.__annotations__)


class StageState(StageDetails, total=False):
    """`stageStatus.<stage>` of a record."""

    status: str  # a StageStatus value
    startTime: str
    endTime: str
    error: str
    reusedFrom: str  # a rerun's stage taken over from that record, not run again


class PerformParams(TypedDict, total=False):
    """What the client asked for (POST records): the spec's performParams."""

    ref: str
    name: str
    description: str
    createScmTag: bool
    cacheDependency: bool
    stages: list[str]


class RecordView(TypedDict):
    """The spec's PipelineRecordObject: what clients (and the scm service) see of a record."""

    id: str
    name: str
    pipelineID: str
    trigger: str  # "user" | "scmTrigger" | "cronTrigger" | "rerun"
    performParams: PerformParams
    stageStatus: dict[str, StageState]
    status: str  # a RecordStatus value
    startTime: str
    owner: NotRequired[str]
    rerunOf: NotRequired[str]
    trusted: NotRequired[bool]
    untrustedReason: NotRequired[str]
    errorMessage: NotRequired[str]
    endTime: NotRequired[str]


class StatsOverview(TypedDict):
    total: int
    success: int
    failed: int
    aborted: int
    successRatio: str  # "87.50%"


class StatsDay(TypedDict):
    timestamp: int  # the UTC midnight starting the day, Unix seconds
    success: int
    failed: int
    aborted: int


class Stats(TypedDict):
    """The spec's PipelineStatusStats, for a project or a pipeline over a time range."""

    overview: StatsOverview
    details: list[StatsDay]
