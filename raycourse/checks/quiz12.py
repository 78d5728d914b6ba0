"""The quiz of lesson 12 (Two models online)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "12",
    [
        Question(
            "The split picks a version with `hash(user) % 100 < 10`. What goes wrong with two `Split` replicas?",
            {
                "a": (
                    "Nothing: `hash` of one string is always the same number.",
                    "Python salts the hash of a string per process (PYTHONHASHSEED), so each replica, and each "
                    "restart, puts a user in another bucket.",
                ),
                "b": (
                    "A user meets both versions: each replica salts `hash` its own way.",
                    "Each process hashes strings with its own salt, so the bucket depends on the replica that "
                    "took the request; SHA-256 of the id gives one bucket everywhere.",
                ),
                "c": (
                    "The share is far from 10 %: `hash` gives more small numbers than large.",
                    "Within one process the buckets are spread evenly; the trouble is that they differ between "
                    "processes, so the split is not sticky.",
                ),
            },
            right="b",
        ),
        Question(
            "Why does the lesson write its decision rule down before it sends any traffic?",
            {
                "a": (
                    "Fisher's exact test needs its threshold as an argument before the data.",
                    "`fisher_exact` returns a p-value and takes no threshold; the rule is for the people deciding.",
                ),
                "b": (
                    "So that Serve knows when to start the rolling update.",
                    "Serve knows nothing of the rule: the notebook runs `serve.run` after it applies the rule.",
                ),
                "c": (
                    "So that no one can pick the test that the results pass.",
                    "Once the numbers are seen, there is always some test or cut-off that favours the hoped-for "
                    "version; a rule stated first cannot be bent that way.",
                ),
            },
            right="c",
        ),
        Question(
            "With a 1 % share, v2 gets 8 requests and is right 7 times; v1 is right 68 % of the time. What follows?",
            {
                "a": (
                    "Wait: 8 requests cannot tell the versions apart.",
                    "With 8 requests even a large difference is likely by chance; a larger share or a longer "
                    "test gathers the requests a decision needs.",
                ),
                "b": (
                    "Promote v2: 7 of 8 right is 88 %, far above v1's 68 %.",
                    "Eight requests can show 7 right by luck from a model no better than v1; the test's p-value "
                    "says how likely that is.",
                ),
                "c": (
                    "Keep v1 for good: v2 could not pass the stated test.",
                    "A test that cannot reject says nothing against v2 either; it says there is not yet enough data.",
                ),
            },
            right="a",
        ),
        Question(
            "During the rollout, a champion replica of v1 is stopping while it still holds requests. What do they get?",
            {
                "a": (
                    "An error: Serve kills the replica at once, and the caller retries.",
                    "Serve stops a replica gracefully: it waits for the requests it holds, up to the deployment's "
                    "graceful shutdown timeout, and the lesson counted no failed request.",
                ),
                "b": (
                    "v1's answers: it finishes them; new requests go elsewhere.",
                    "A stopping replica leaves the routing table first, then finishes what it holds, which is "
                    "why answers of both versions appear during the update.",
                ),
                "c": (
                    "v2's answers: Serve moves them to a new replica.",
                    "A request in a replica stays there; Serve moves nothing, it only stops sending new ones.",
                ),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
