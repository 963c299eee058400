"""The paper-rehearsal profile: stand-ins of the paper's checkpoints, data and judge, built here."""
