"""The exercise tests' shared toolkit: what every test module uses instead of copying helpers.

- ``testkit.serving``: start a server (a student's, or a peer: uvicorn, gunicorn, hypercorn), wait
  until it listens, stop it, and prove it stopped;
- ``testkit.asgi``: drive ASGI code from a synchronous test: ``run()`` (a bounded event loop) and
  ``http_scope()`` (a complete HTTP scope);
- ``testkit.asgi_spec``: the ASGI message validator, both sides: ``checked_app()`` around an app under
  test, ``ServerChecks`` around a probe app that a server under test runs;
- ``testkit.peers``: ``peer_deviation()``, for a reference peer that itself breaks the rule graded;
- ``testkit.prerequisites``: import a student's module from an earlier exercise, or say in one
  sentence which exercise to finish first;
- ``testkit.wire`` and ``testkit.replay``: the bytes a test exchanged with a server it runs, and a
  command to replay the request, for the grader to show when the test fails.

It ships in every course copy beside ``grader/`` (the command line that grades) and ``bench/`` (the
student's ``grader bench`` tool). Only tests import it.
"""
