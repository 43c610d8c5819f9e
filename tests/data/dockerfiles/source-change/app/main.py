print("the application")
