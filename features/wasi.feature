Feature: Run WASI command programs
  A program compiled for WASI (here from C with clang) runs its main with the arguments, the
  environment and the stdin of the request, in memory: no files, no network, no host environment.

  Scenario: A program writes to stdout
    Given I have uploaded the WASI program "hello" as "hello"
    When I run "hello" with the arguments "world" and the environment "LANG=C"
    Then the program exits with 0
    And its stdout is "hello, world\nargv[0]=hello\nargv[1]=world\nenv LANG=C\n"

  Scenario: A program reads stdin
    Given I have uploaded the WASI program "echo" as "shout"
    When I run "shout" with the stdin "quiet please"
    Then its stdout is "QUIET PLEASE"

  Scenario: A program exits with a code
    Given I have uploaded the WASI program "exit" as "quitter"
    When I run "quitter" with the arguments "7" and the environment ""
    Then the program exits with 7
    And its stderr is "exiting with 7\n"

  Scenario: A program that never ends is stopped
    Given Wess runs with a call deadline of 300 ms
    And I have uploaded the WASI program "spin" as "spinner"
    When I run "spinner" with the stdin ""
    Then the answer is 408
    And the error code is "EXECUTION_TIMEOUT"
