Feature: Upload a WebAssembly module
  A platform team stores a module once and gets back an id, its exports with their
  real signatures, and its memory limits.

  Scenario: Upload a module as JSON with base64 content
    When I upload the "add" module as "calc"
    Then the answer is 201
    And the module is named "calc"
    And the module is at version 1
    And the module exports "add" taking "i32, i32" and returning "i32"

  Scenario: Upload a raw application/wasm body
    When I upload the raw "float-ops" module with name "floats"
    Then the answer is 201
    And the module exports "copysign64" taking "f64, f64" and returning "f64"

  Scenario: Download exactly what was uploaded
    Given I have uploaded the "trap" module as "traps"
    When I download the content of "traps"
    Then the answer is 200
    And the content is byte for byte the "trap" module

  Scenario: List what is stored
    Given I have uploaded the "add" module as "one"
    And I have uploaded the "add" module as "two"
    When I list the modules
    Then the answer is 200
    And the list holds 2 modules

  Scenario: Something that is not WebAssembly is refused
    When I upload the bytes "definitely not wasm" as "junk"
    Then the answer is 400
    And the error code is "INVALID_WASM"

  Scenario: A module that imports host functions is refused
    When I upload the "imports-fn" module as "needs-host"
    Then the answer is 400
    And the error code is "FORBIDDEN_IMPORT"
    And the error message mentions "env.log"
