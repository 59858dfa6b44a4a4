from autolettura.cli import main

main()
