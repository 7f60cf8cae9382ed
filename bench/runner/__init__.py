"""The runner: ``python -m bench run``.

Modules, from the command line down:

* :mod:`.config`: the arguments, validated once into a typed :class:`RunConfig`;
* :mod:`.plan`: the cells to measure, grouped one worker process per backend x device x threads;
* :mod:`.folder`: the run folder (lock, plan.json, env.json, damaged files repaired or refused);
* :mod:`.supervise`: worker processes, timeouts, crashes; :mod:`.cluster` runs the same groups on Dask;
* :mod:`.worker` and :mod:`.suite`: inside a worker, each cell measured by pytest-benchmark;
* :mod:`.threads` and :mod:`.launch`: one thread setting for every framework, set before import;
* :mod:`.machine`: whether the machine was quiet; :mod:`.summary`: the table a run ends with;
* :mod:`.diagnose`: the ``diagnose`` subcommand: :mod:`.overhead` (the harness against a bare ``timeit``)
  and :mod:`.tax_probe` (the protocol tax alone, timed round-robin);
* :mod:`.pictures`: the article's pictures, one process per backend.

:mod:`.command` holds the ``run`` subcommand (``HELP``, ``add_arguments``, ``main``).
"""
