"""Run the protsteer CLI from a checkout: ``python cli.py --help`` (the code lives in ``protsteer.cli``)."""

from protsteer.cli import main

if __name__ == "__main__":
    main()
