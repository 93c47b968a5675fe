"""nameko entrypoints of the scm service; each delegates to domain code in a line or two."""

from nameko.rpc import rpc

from services.scm.providers import svn
from shared.contracts import errors, services
from shared.contracts.rpc import SvnRepoInfo
from shared.ping import PingMixin


class ScmService(PingMixin):
    """Owns webhook delivery ids: GitHub/GitLab/SVN adapters, webhooks, statuses, tags.

    Today: what identifies an SVN repository to its post-commit hook (docs/roadmap.md).
    """

    name = services.SCM

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=("password",))
    def svn_repo_info(self, url: str, username: str = "", password: str = "") -> SvnRepoInfo:
        return svn.repo_info(url, username, password)
