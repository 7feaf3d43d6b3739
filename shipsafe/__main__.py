from shipsafe.cli.app import main

main()
