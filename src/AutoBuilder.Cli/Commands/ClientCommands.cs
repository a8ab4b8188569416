using System.CommandLine;
using AutoBuilder.Core;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary>
/// The client verbs of <c>autobuilder</c>: build, status, logs, download, cancel, rerun, projects, builds, keys, caches.
/// Each command carries its own --server and --data options. Exit codes: see <see cref="ExitCodes"/>.
/// </summary>
public static class ClientCommands
{
    public static IEnumerable<Command> Create() => Create(ClientConsole.CreateDefault());

    internal static IEnumerable<Command> Create(ClientConsole console) =>
    [
        BuildCommand.Create(console),
        Status(console),
        Logs(console),
        Download(console),
        Cancel(console),
        Rerun(console),
        Projects(console),
        Builds(console),
        Keys(console),
        CachesCommand.Create(console),
    ];

    /// <summary>PROJECT, checked against the project id rule before anything is sent.</summary>
    internal static Argument<string> ProjectArgument()
    {
        var project = new Argument<string>("PROJECT") { Description = "Project id" };
        project.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string>();
            if (!Ids.IsValidProjectId(value))
            {
                result.AddError($"'{value}' is not a valid project id ({Client.ProjectIds.Rule}).");
            }
        });
        return project;
    }

    private static Argument<string> BuildIdArgument() => new("BUILD_ID") { Description = "The build's id (as printed by `autobuilder build`)" };

    private static Command Status(ClientConsole console)
    {
        var common = new CommonOptions();
        var buildId = BuildIdArgument();
        var command = new Command("status", "Show a build. Exit code 0 when it succeeded or is still queued/running, 1 when it failed, timed out or was cancelled, 2 on errors.");
        command.Arguments.Add(buildId);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            var build = await client.GetBuildAsync(parseResult.GetRequiredValue(buildId), ct);
            BuildView.WriteBuild(console.Out, build);
            return BuildView.ExitCodeOf(build.Status);
        }, ct));
        return command;
    }

    private static Command Logs(ClientConsole console)
    {
        var common = new CommonOptions();
        var buildId = BuildIdArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep streaming until the build ends (Ctrl+C stops following; the build goes on)" };
        var raw = RawOption();
        var command = new Command("logs", "Print a build's log to stdout, terminal escape sequences and control characters removed or shown as \\u00XX (--raw: byte for byte).");
        command.Arguments.Add(buildId);
        command.Options.Add(follow);
        command.Options.Add(raw);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            var id = parseResult.GetRequiredValue(buildId);
            return await FollowLogAsync(console, client, id, parseResult.GetValue(follow), parseResult.GetValue(raw), ct) ? ExitCodes.Success : ExitCodes.Interrupted;
        }, ct));
        return command;
    }

    private static Command Download(ClientConsole console)
    {
        var common = new CommonOptions();
        var buildId = BuildIdArgument();
        var output = new Option<string?>("--out", "-o") { Description = "Output folder [default ./autobuilder-out/{project}/{number}]", HelpName = "DIR" };
        var command = new Command("download", "Download a build's result.zip and artifacts (artifacts are checked against their SHA-256).");
        command.Arguments.Add(buildId);
        command.Options.Add(output);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            var build = await client.GetBuildAsync(parseResult.GetRequiredValue(buildId), ct);
            var folder = parseResult.GetValue(output) ?? ResultDownloader.DefaultOutputFolder(build);
            var count = await ResultDownloader.DownloadAsync(client, console, build, folder, ct);
            if (count == 0)
            {
                console.Out.MarkupLineInterpolated($"Build {build.Id} is {build.Status.ToString().ToLowerInvariant()} and has nothing to download.");
            }

            return ExitCodes.Success;
        }, ct));
        return command;
    }

    private static Command Cancel(ClientConsole console)
    {
        var common = new CommonOptions();
        var buildId = BuildIdArgument();
        var command = new Command("cancel", "Cancel a queued or running build.");
        command.Arguments.Add(buildId);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            var build = await client.CancelBuildAsync(parseResult.GetRequiredValue(buildId), ct);
            BuildView.WriteBuild(console.Out, build);
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    private static Command Rerun(ClientConsole console)
    {
        var common = new CommonOptions();
        var buildId = BuildIdArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Stream the new build's log until it ends; exit code as for status" };
        var raw = RawOption();
        var command = new Command("rerun", "Build the same source again with the same settings; prints the new build.");
        command.Arguments.Add(buildId);
        command.Options.Add(follow);
        command.Options.Add(raw);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            var build = await client.RerunBuildAsync(parseResult.GetRequiredValue(buildId), ct);
            BuildView.WriteBuild(console.Out, build);
            if (!parseResult.GetValue(follow))
            {
                return ExitCodes.Success;
            }

            if (!await FollowLogAsync(console, client, build.Id, follow: true, parseResult.GetValue(raw), ct))
            {
                return ExitCodes.Interrupted;
            }

            var ended = await client.GetBuildAsync(build.Id, ct);
            BuildView.WriteBuild(console.Out, ended);
            return ended.Status == AutoBuilder.Core.Builds.BuildStatus.Succeeded ? ExitCodes.Success : ExitCodes.BuildFailed;
        }, ct));
        return command;
    }

    private static Command Projects(ClientConsole console)
    {
        var common = new CommonOptions();
        var command = new Command("projects", "List your projects.");
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            BuildView.WriteProjects(console.Out, await client.GetProjectsAsync(ct));
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    private static Command Builds(ClientConsole console)
    {
        var common = new CommonOptions();
        var project = ProjectArgument();
        var command = new Command("builds", "List a project's builds, newest first.");
        command.Arguments.Add(project);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            BuildView.WriteBuilds(console.Out, await client.GetBuildsAsync(parseResult.GetRequiredValue(project), ct));
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    private static Command Keys(ClientConsole console)
    {
        var keys = new Command("keys", "Manage API keys (needs an admin key).");

        var createCommon = new CommonOptions();
        var user = new Option<string>("--user", "-u") { Description = "The user the key is for (created when new)", Required = true, HelpName = "NAME" };
        user.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string>();
            if (!Ids.IsValidUserName(value))
            {
                result.AddError($"'{value}' is not a valid user name (1–63 lower-case letters, digits and dashes, starting with a letter or digit).");
            }
        });
        var admin = new Option<bool>("--admin") { Description = "Give the user the admin role" };
        var create = new Command("create", "Create a key and print it (it is shown this once).");
        create.Options.Add(user);
        create.Options.Add(admin);
        createCommon.AddTo(create);
        create.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, createCommon, parseResult, async client =>
        {
            var created = await client.CreateKeyAsync(parseResult.GetRequiredValue(user), parseResult.GetValue(admin), ct);
            console.Error.MarkupLineInterpolated($"Key {created.KeyId} for user {created.User}; it is shown this once:");
            console.Out.WriteLine(created.Key);
            return ExitCodes.Success;
        }, ct));

        var listCommon = new CommonOptions();
        var list = new Command("list", "List every key: id, user, role, created, revoked (never the key itself).");
        listCommon.AddTo(list);
        list.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, listCommon, parseResult, async client =>
        {
            BuildView.WriteKeys(console.Out, await client.GetKeysAsync(ct));
            return ExitCodes.Success;
        }, ct));

        var revokeCommon = new CommonOptions();
        var keyId = new Argument<string>("KEY_ID") { Description = "The key's id (from `keys list`)" };
        var revoke = new Command("revoke", "Revoke a key: its next request is refused.");
        revoke.Arguments.Add(keyId);
        revokeCommon.AddTo(revoke);
        revoke.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, revokeCommon, parseResult, async client =>
        {
            var revoked = await client.RevokeKeyAsync(parseResult.GetRequiredValue(keyId), ct);
            console.Out.MarkupLineInterpolated($"Key {revoked.Id} of user {revoked.User} is revoked.");
            return ExitCodes.Success;
        }, ct));

        keys.Subcommands.Add(create);
        keys.Subcommands.Add(list);
        keys.Subcommands.Add(revoke);
        return keys;
    }

    /// <summary>--raw of the commands that print a log.</summary>
    internal static Option<bool> RawOption() => new("--raw")
    {
        Description = "Print the log byte for byte, terminal escape sequences and control characters included (by default they are removed or shown as \\u00XX, so a build cannot drive your terminal)",
    };

    /// <summary>
    /// Streams the log to stdout, through <see cref="Client.TerminalSafeStream"/> unless <paramref name="raw"/>.
    /// Returns false when Ctrl+C stopped it (and says so on stderr).
    /// </summary>
    internal static async Task<bool> FollowLogAsync(ClientConsole console, Client.AutoBuilderClient client, string buildId, bool follow, bool raw, CancellationToken cancellationToken)
    {
        var stdout = console.OpenStandardOutput();
        var log = raw ? stdout : new Client.TerminalSafeStream(stdout, leaveOpen: true);
        try
        {
            await client.CopyLogToAsync(buildId, log, follow, cancellationToken);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.WriteWarning($"stopped following the log; build {buildId} keeps running on the server (`autobuilder status {buildId}`, `autobuilder logs -f {buildId}`).");
            return false;
        }
        finally
        {
            if (!raw)
            {
                await log.DisposeAsync(); // writes what it still holds; stdout stays open
            }

            await stdout.FlushAsync(CancellationToken.None);
        }
    }
}
