from shop.launch import main

main()
