Feature: Run an exported function
  Calls go over HTTP with JSON arguments converted by the export's real signature.

  Background:
    Given I have uploaded the "add" module as "calc"

  Scenario: Add two numbers
    When I call "add" on "calc" with [2, 3]
    Then the results are [5]

  Scenario: Numbers may be sent as decimal strings
    When I call "add" on "calc" with ["40", "2"]
    Then the results are [42]

  Scenario: 64-bit integers travel as decimal strings
    Given I have uploaded the "add-i64" module as "big"
    When I call "add" on "big" with ["9007199254740993", "1"]
    Then the results are ["9007199254740994"]

  Scenario: Special floats keep their meaning
    Given I have uploaded the "float-ops" module as "floats"
    When I call "copysign64" on "floats" with [2.5, "-NaN"]
    Then the results are [-2.5]

  Scenario: The function can be left out when there is only one
    Given I have uploaded the "single-export" module as "doubler"
    When I call "doubler" with [21]
    Then the results are [42]

  Scenario: A trap is reported, not hidden
    Given I have uploaded the "trap" module as "traps"
    When I call "div" on "traps" with [1, 0]
    Then the answer is 422
    And the error code is "WASM_TRAP"
    And the error message mentions "integer divide by zero"

  Scenario: An unknown function
    When I call "mul" on "calc" with [2, 3]
    Then the answer is 400
    And the error code is "UNKNOWN_FUNCTION"

  Scenario: An argument of the wrong type names the argument
    When I call "add" on "calc" with [1, 2.5]
    Then the answer is 400
    And the error code is "INVALID_ARGUMENT"
    And the error message mentions "args[1]"
