"""ballast: attach the capture agent, then run the sitecustomize this one shadows (if any).

`ballast run` puts this directory first on PYTHONPATH and sets BALLAST_AGENT=1. Python imports the
first `sitecustomize` on sys.path, so this file chains to the next one to keep the host's behaviour.
"""


def _ballast_attach():
    import os
    if os.environ.get("BALLAST_AGENT", "") in ("", "0"):
        return
    try:
        import ballast_agent
        ballast_agent.install_on_torch_import()
    except Exception as e:  # never break the host's start-up
        try:
            import sys
            sys.stderr.write("[ballast] capture disabled: %r\n" % (e,))
        except Exception:
            pass


def _ballast_chain():
    import importlib.machinery
    import importlib.util
    import os
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ballast_chained_sitecustomize"] = module
    spec.loader.exec_module(module)


_ballast_attach()
_ballast_chain()
