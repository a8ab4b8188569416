using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AutoBuilder.Server.Api;

/// <summary>Every error answer of the API: application/problem+json with a title that says what is wrong.</summary>
public static class ApiProblems
{
    public static ProblemHttpResult NotFound(string what, string id) =>
        Problem(StatusCodes.Status404NotFound, $"{what} not found", $"There is no {what.ToLowerInvariant()} '{id}' that you can see.");

    public static ProblemHttpResult BadRequest(string title, string? detail = null) => Problem(StatusCodes.Status400BadRequest, title, detail);

    public static ProblemHttpResult Conflict(string title, string? detail = null) => Problem(StatusCodes.Status409Conflict, title, detail);

    public static ProblemHttpResult Forbidden(string title, string? detail = null) => Problem(StatusCodes.Status403Forbidden, title, detail);

    public static ProblemHttpResult Problem(int status, string title, string? detail = null) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);
}
