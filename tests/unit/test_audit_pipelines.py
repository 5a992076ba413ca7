"""The CI pipeline definitions audit in parallel shards and merge into JSON, HTML and JUnit.

tests/lab/test_audit_shards.py runs the same commands against the lab; this checks the files
themselves: valid YAML, N parallel jobs, each auditing its own K/N slice, one merge of them all.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def scripts(node) -> str:
    """Every string in a YAML document, joined (run:, script:, inlineScript:...)."""
    if isinstance(node, dict):
        return "\n".join(scripts(v) for v in node.values())
    if isinstance(node, list):
        return "\n".join(scripts(v) for v in node)
    return str(node)


def check_commands(text: str) -> None:
    assert "bcdrfix audit" in text and "--shard" in text and "--report" in text
    assert "bcdrfix report merge" in text
    for ext in ("json", "html", "xml"):
        assert f"--report fleet/audit.{ext}" in text


def test_github_actions_matrix_of_shards_then_merge():
    workflow = yaml.safe_load((REPO / ".github/workflows/audit-shards.yml").read_text())
    jobs = workflow["jobs"]
    assert "fromJSON(needs.plan.outputs.shards)" in jobs["audit"]["strategy"]["matrix"]["shard"]
    assert jobs["audit"]["strategy"]["fail-fast"] is False
    assert jobs["merge"]["needs"] == "audit"
    text = scripts(jobs)
    assert '--shard "${{ matrix.shard }}/$SHARDS"' in text
    check_commands(text)


def test_azure_pipelines_parallel_jobs_then_merge():
    pipeline = yaml.safe_load((REPO / "azure-pipelines/audit-shards.yml").read_text())
    audit_stage, merge_stage = pipeline["stages"]
    job = audit_stage["jobs"][0]
    assert job["strategy"]["parallel"] == "${{ parameters.shards }}"
    assert merge_stage["dependsOn"] == "audit"
    text = scripts(pipeline)
    assert "K=$(System.JobPositionInPhase); N=$(System.TotalJobsInPhase)" in text
    assert '--shard "$K/$N"' in text
    assert "PublishTestResults@2" in text
    check_commands(text)
