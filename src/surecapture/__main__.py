from surecapture.cli import app

app(prog_name="surecapture")
